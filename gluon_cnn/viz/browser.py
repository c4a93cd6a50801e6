"""A local headless Chromium for the explainer page: screenshots and the browser tests.

Only the system's own browser and driver are used (Debian: `apt-get install chromium
chromium-driver`), named explicitly, so Selenium Manager never runs and never downloads
anything; the page is opened from file:// and needs no network.
"""
import os
import shutil
from pathlib import Path
from typing import Optional

from ..durable import write_bytes_atomic
from ..errors import ConfigError

__all__ = ['CHROMIUM', 'CHROMEDRIVER', 'missing', 'chromium', 'screenshot']

CHROMIUM = os.environ.get('GLUON_CNN_CHROMIUM', '/usr/bin/chromium')
CHROMEDRIVER = os.environ.get('GLUON_CNN_CHROMEDRIVER', '/usr/bin/chromedriver')


def missing() -> Optional[str]:
    """Why no browser can be driven here (one line), or None when one can."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return 'selenium is not installed (pip install selenium; it is in the [test] extras)'
    for path, package in ((CHROMIUM, 'chromium'), (CHROMEDRIVER, 'chromium-driver')):
        if not (Path(path).is_file() or shutil.which(path)):
            return f'{path} not found (apt-get install chromium chromium-driver; make test-browser)'
    return None


def chromium(width: int = 1400, height: int = 1000):
    """A headless Chromium WebDriver on the local binary and driver, logging console messages."""
    reason = missing()
    if reason:
        raise ConfigError(f'no browser to drive: {reason}')
    os.environ['SE_AVOID_STATS'] = 'true'  # Selenium sends no usage statistics
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu',
                f'--window-size={width},{height}', '--no-first-run', '--no-default-browser-check',
                '--disable-extensions', '--disable-background-networking',
                '--disable-component-update', '--disable-sync', '--metrics-recording-only',
                '--host-resolver-rules=MAP * ~NOTFOUND'):  # a page asking for the network fails
        options.add_argument(arg)
    options.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def screenshot(page, png, width: int = 1400, height: Optional[int] = None) -> Path:
    """A PNG of the page (file path) as Chromium draws it; height None: the whole page."""
    from selenium.common.exceptions import WebDriverException

    page, png = Path(page).resolve(), Path(png)
    try:
        driver = chromium(width, height or 1000)
    except WebDriverException as e:
        first = (str(e.msg or e).strip().splitlines() or [''])[0]
        raise ConfigError(f'--screenshot: {CHROMIUM} did not start ({first})') from None
    try:
        driver.get(page.as_uri())
        driver.execute_script('window.explainer && window.explainer.stopCalc();')
        if height is None:
            full = driver.execute_script('return document.documentElement.scrollHeight')
            driver.set_window_size(width, min(int(full) + 40, 6000))
        else:  # the window's own bars take part of its height: make the page's view `height`
            inner = driver.execute_script('return window.innerHeight')
            driver.set_window_size(width, 2 * height - int(inner))
        shot = driver.get_screenshot_as_png()
    finally:
        driver.quit()
    png.parent.mkdir(parents=True, exist_ok=True)
    return write_bytes_atomic(png, shot)  # a signal or a full disk leaves the old PNG or none
