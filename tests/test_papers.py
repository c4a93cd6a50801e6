"""The notes in papers/ are current: regenerating their tables from code changes nothing."""
from gluon_cnn import papers


def test_notes_are_current():
    stale = papers.update(check=True)
    assert not stale, f'run `make papers` and commit: {[p.name for p in stale]}'


def test_render_replaces_only_marked_blocks():
    papers.SECTIONS['_demo'] = lambda: '| a |\n|---|\n| 1 |'
    try:
        text = ('keep\n<!-- BEGIN generated: _demo -->\nold\n'
                '<!-- END generated: _demo -->\nkeep too\n')
        assert papers.render(text) == ('keep\n<!-- BEGIN generated: _demo -->\n'
                                       '| a |\n|---|\n| 1 |\n'
                                       '<!-- END generated: _demo -->\nkeep too\n')
    finally:
        del papers.SECTIONS['_demo']
