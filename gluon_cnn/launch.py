"""`python -m gluon_cnn.launch -n WORKERS [-s SERVERS] [--hostfile FILE | --horovod] -- COMMAND...`

Starts a ps-lite job for MXNet's dist kvstores (`--kvstore dist_sync` ...): one scheduler,
SERVERS servers and WORKERS copies of COMMAND, each with the DMLC_* environment, and watches them.
It replaces the wheel's tools/launch.py, which fails on Python 3.11 (`Thread.isAlive`) and finds
its host address by opening a socket toward an outside address. With --horovod it starts a
Horovod (Gloo) job on this machine instead (`--kvstore horovod`): WORKERS copies of COMMAND with
the HOROVOD_* environment, and Horovod's rendezvous server in this process, on 127.0.0.1
(horovodrun binds it to every interface and looks up the machine's addresses).

- Where: by default every role runs here and binds and connects only to 127.0.0.1 (ps-lite ignores
  the loopback interface unless DMLC_NODE_HOST says so). With --hostfile, servers and workers run
  over ssh on the hosts named, round-robin, and --scheduler-host must name this machine's address
  as they see it (nothing is guessed or probed).
- Ports: the scheduler's is chosen free by binding 127.0.0.1:0 (or given with --port).
- Liveness: when any role dies (or a server or the scheduler ends before the workers), every role
  is ended within seconds; the launch prints one line naming the role and how it died and exits
  non-zero. Every role runs in its own process group, which is what gets signalled.
- Signals: Ctrl-C and SIGTERM end every role (exit 130 / 143). A launcher that dies without
  cleaning up (SIGKILL, a crash) takes its local roles with it: each asks the kernel for SIGKILL
  when its parent dies (prctl PR_SET_PDEATHSIG, Linux), so no role is left orphaned.
- Checks before any role starts: the worker command exists, the port is free; each is one
  `launch:` line and exit 2.
- Threads: local workers share the cores; unless OMP_NUM_THREADS is set, each gets cores / WORKERS.
"""
import argparse
import ctypes
import os
import shlex
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from typing import List, NamedTuple, Optional

from .cli import EXIT_USER, ArgumentParser

__all__ = ['Role', 'free_port', 'role_env', 'plan', 'horovod_plan', 'serve_rendezvous', 'Launch',
           'main']

GRACE = 3.0      # seconds a role gets between SIGTERM and SIGKILL
WIND_DOWN = 15.0  # seconds servers and scheduler get to exit on their own after the workers
POLL = 0.05


class Role(NamedTuple):
    """One process of the job: its name in messages, its argv and its environment additions."""
    name: str
    argv: List[str]
    env: dict


def free_port(host: str = '127.0.0.1') -> int:
    """A TCP port that is free on `host` now (bind to port 0; the kernel picks)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def role_env(role: str, root: str, port: int, workers: int, servers: int, node_host: str) -> dict:
    """The DMLC_* variables ps-lite reads in every role."""
    return {'DMLC_ROLE': role, 'DMLC_PS_ROOT_URI': root, 'DMLC_PS_ROOT_PORT': str(port),
            'DMLC_NUM_WORKER': str(workers), 'DMLC_NUM_SERVER': str(servers),
            'DMLC_NODE_HOST': node_host}


def plan(command: List[str], workers: int, servers: int, port: int, hosts: Optional[list] = None,
         scheduler_host: str = '127.0.0.1', cwd: Optional[str] = None) -> List[Role]:
    """The roles of a job: scheduler and servers run `python -c 'import gluon_cnn, mxnet'`
    (importing MXNet with DMLC_ROLE=server|scheduler runs that role and exits; gluon_cnn first,
    for its numpy shims on Python 3.12+), workers run `command`.
    hosts: None for this machine over loopback, else servers and workers go over ssh to them."""
    serve = [sys.executable, '-c', 'import gluon_cnn, mxnet']
    roles = [Role('scheduler', serve, role_env('scheduler', scheduler_host, port, workers, servers,
                                               scheduler_host))]
    threads = {} if hosts else _threads(workers)
    kinds = [('server', i, serve) for i in range(servers)] + \
            [('worker', i, list(command)) for i in range(workers)]
    for j, (kind, i, argv) in enumerate(kinds):
        host = hosts[j % len(hosts)] if hosts else '127.0.0.1'
        env = role_env(kind, scheduler_host, port, workers, servers, host)
        if kind == 'worker':
            env.update(threads)
        name = f'{kind} {i}' + (f' on {host}' if hosts else '')
        if hosts:  # the remote shell gets the environment on its command line
            exports = ' '.join(f'{k}={shlex.quote(v)}' for k, v in env.items())
            remote = f'cd {shlex.quote(cwd or os.getcwd())} && env {exports} ' + shlex.join(argv)
            roles.append(Role(name, ['ssh', '-o', 'BatchMode=yes', host, remote], {}))
        else:
            roles.append(Role(name, argv, env))
    return roles


def _threads(workers: int) -> dict:
    """Local workers share the cores: OMP_NUM_THREADS = cores / workers, unless it is set."""
    return {} if 'OMP_NUM_THREADS' in os.environ else {
        'OMP_NUM_THREADS': str(max(1, (os.cpu_count() or 1) // workers))}


def horovod_plan(command: List[str], workers: int, port: int) -> List[Role]:
    """The workers of a Horovod job on this machine over Gloo, as horovodrun --gloo would start
    them for `-H localhost:WORKERS`, talking only over 127.0.0.1 ('lo'): rendezvous at `port`."""
    base = {'HOROVOD_GLOO_RENDEZVOUS_ADDR': '127.0.0.1', 'HOROVOD_GLOO_RENDEZVOUS_PORT': str(port),
            'HOROVOD_CONTROLLER': 'gloo', 'HOROVOD_CPU_OPERATIONS': 'gloo',
            'HOROVOD_GLOO_IFACE': 'lo', 'HOROVOD_HOSTNAME': 'localhost',  # a scope label only
            'HOROVOD_SIZE': str(workers), 'HOROVOD_LOCAL_SIZE': str(workers),
            'HOROVOD_CROSS_RANK': '0', 'HOROVOD_CROSS_SIZE': '1', **_threads(workers)}
    return [Role(f'worker {i}', list(command),
                 {**base, 'HOROVOD_RANK': str(i), 'HOROVOD_LOCAL_RANK': str(i)})
            for i in range(workers)]


def serve_rendezvous(workers: int, port: int = 0):
    """Horovod's rendezvous server for `workers` local ranks, on 127.0.0.1:`port` (0: a free one),
    in a daemon thread; returns the server (its port: server.server_address[1]; end it with
    shutdown() and server_close())."""
    from horovod.runner.common.util.hosts import get_host_assignments, parse_hosts
    from horovod.runner.http.http_server import RendezvousHandler, RendezvousHTTPServer

    class Loopback(RendezvousHTTPServer):
        def server_bind(self):  # HTTPServer's looks this machine's name up (getfqdn): not here
            socketserver.TCPServer.server_bind(self)
            self.server_name, self.server_port = 'localhost', self.server_address[1]

    server = Loopback(('127.0.0.1', port), RendezvousHandler, False)
    server.init(get_host_assignments(parse_hosts(f'localhost:{workers}'), workers))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _how(code: int) -> str:
    if code < 0:
        try:
            return f'was killed by {signal.Signals(-code).name}'
        except ValueError:
            return f'was killed by signal {-code}'
    return f'exited with code {code}'


class Launch:
    """Runs roles, each in a process group of its own, and ends them all together."""

    def __init__(self, roles: List[Role], timeout: Optional[float] = None, log=None):
        self.roles, self.timeout = roles, timeout
        self.log = log or (lambda line: print(f'launch: {line}', file=sys.stderr, flush=True))
        self.procs: List[subprocess.Popen] = []

    def run(self) -> int:
        """Start every role, watch them, return the launch's exit code (0: every worker did)."""
        stop = {}

        def on_signal(signum, frame):
            stop['signal'] = signum
        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            for role in self.roles:
                self.procs.append(subprocess.Popen(role.argv, env={**os.environ, **role.env},
                                                   start_new_session=True,
                                                   preexec_fn=_die_with_parent(os.getpid())))
            return self._watch(stop)
        finally:
            self._end_all()
            for s, h in previous.items():
                signal.signal(s, h)

    def _watch(self, stop: dict) -> int:
        deadline = time.monotonic() + self.timeout if self.timeout else None
        first_done = None
        while True:
            if 'signal' in stop:
                name = signal.Signals(stop['signal']).name
                self.log(f'{name}: ending every role')
                return 128 + stop['signal']
            codes = [p.poll() for p in self.procs]
            for role, proc, code in zip(self.roles, self.procs, codes):
                if code not in (None, 0):
                    self.log(f'{role.name} (pid {proc.pid}) {_how(code)}; ending the other roles')
                    return code if code > 0 else 128 - code
            if all(c == 0 for c in codes):
                return 0
            # ps-lite ends servers and scheduler once every worker has said goodbye, and workers
            # soon after: whichever side finishes first, the rest gets WIND_DOWN seconds
            workers = [c for r, c in zip(self.roles, codes) if r.name.startswith('worker')]
            if 0 in codes:
                first_done = first_done or time.monotonic()
                if time.monotonic() - first_done > WIND_DOWN:
                    left = [r.name for r, c in zip(self.roles, codes) if c is None]
                    self.log(f'{", ".join(left)} still running {WIND_DOWN:g} s after the others '
                             'ended; ending them')
                    return 0 if all(c == 0 for c in workers) else 1
            if deadline and time.monotonic() > deadline:
                self.log(f'--timeout {self.timeout:g} s reached; ending every role')
                return 124
            time.sleep(POLL)

    def _end_all(self):
        """SIGTERM every live role's process group, then SIGKILL what is left after GRACE."""
        live = [p for p in self.procs if p.poll() is None]
        for p in live:
            _signal_group(p, signal.SIGTERM)
        end = time.monotonic() + GRACE
        for p in live:
            try:
                p.wait(timeout=max(0.0, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for p in self.procs:  # the group may outlive its leader (a role's own children)
            _signal_group(p, signal.SIGKILL)
            p.wait()


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with_parent(parent: int):
    """A preexec_fn: the child gets SIGKILL when the launcher dies, however it dies (Linux)."""
    def preexec():
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # not Linux: the launcher's own cleanup still runs
            return
        if os.getppid() != parent:  # the launcher died before prctl took effect
            os.kill(os.getpid(), signal.SIGKILL)
    return preexec


def _signal_group(p: subprocess.Popen, sig):
    """Signal the process group that `p` leads (we created it with start_new_session)."""
    try:
        os.killpg(p.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def parse_args(argv=None) -> argparse.Namespace:
    p = ArgumentParser(prog='python -m gluon_cnn.launch',
                                description=__doc__.split('\n\n')[1],
                                usage='%(prog)s -n WORKERS [-s SERVERS] '
                                      '[--hostfile FILE | --horovod] -- COMMAND...')
    p.add_argument('-n', '--num-workers', type=int, required=True, help='worker processes')
    p.add_argument('-s', '--num-servers', type=int, default=1, help='parameter servers (default 1)')
    p.add_argument('--hostfile', help='one host per line: run servers and workers there over ssh '
                   '(default: all on this machine, over 127.0.0.1)')
    p.add_argument('--scheduler-host', help='with --hostfile: this machine\'s address as the hosts '
                   'reach it (required then; nothing is guessed)')
    p.add_argument('--horovod', action='store_true',
                   help='a Horovod (Gloo) job on this machine, for --kvstore horovod: workers '
                   'only, rendezvous on 127.0.0.1 (on a cluster use horovodrun)')
    p.add_argument('--port', type=int,
                   help='scheduler (or Horovod rendezvous) port (default: a free one)')
    p.add_argument('--timeout', type=float,
                   help='end every role after this many seconds (exit 124)')
    p.add_argument('command', nargs=argparse.REMAINDER, help='-- then the worker command')
    args = p.parse_args(argv)
    if args.command[:1] == ['--']:
        args.command = args.command[1:]
    if not args.command:
        p.error('give the worker command after --, e.g. -- python train.py --kvstore dist_sync')
    if args.num_workers < 1 or args.num_servers < 1:
        p.error('-n and -s must be at least 1')
    if args.port is not None and not 0 < args.port < 65536:
        p.error(f'--port must be between 1 and 65535, got {args.port}')
    if args.timeout is not None and not args.timeout > 0:
        p.error(f'--timeout must be a positive number of seconds, got {args.timeout}')
    if args.horovod and args.hostfile:
        p.error('--horovod runs on this machine; on a cluster use horovodrun -H HOSTS (README)')
    if args.hostfile and not args.scheduler_host:
        p.error('--hostfile needs --scheduler-host ADDRESS (this machine, as the hosts see it)')
    return args


def _refusal(args) -> Optional[str]:
    """Why the job cannot start, checked before any role does (None: it can)."""
    program = 'ssh' if args.hostfile else args.command[0]
    if shutil.which(program) is None:
        return (f'{program}: command not found' + ('' if args.hostfile else
                ' (the worker command after --, e.g. -- python train.py --kvstore dist_sync)'))
    if args.port:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            host = '127.0.0.1' if args.horovod else args.scheduler_host or '127.0.0.1'
            try:
                s.bind((host, args.port))
            except OSError as e:
                return (f'--port {args.port}: cannot listen on {host}:{args.port} '
                        f'({e.strerror}); pass another --port, or none for a free one')
    return None


def main(argv=None) -> int:
    args = parse_args(argv)
    why = _refusal(args)
    if why:
        print(f'launch: {why}', file=sys.stderr)
        return EXIT_USER
    if args.horovod:
        return _main_horovod(args)
    hosts = None
    if args.hostfile:
        try:
            with open(args.hostfile) as f:
                hosts = [h.split()[0] for h in f if h.strip() and not h.startswith('#')]
        except OSError as e:
            print(f'launch: --hostfile {args.hostfile}: {e.strerror}', file=sys.stderr)
            return EXIT_USER
        if not hosts:
            print(f'launch: --hostfile {args.hostfile}: no hosts in it', file=sys.stderr)
            return EXIT_USER
    host = args.scheduler_host or '127.0.0.1'
    port = args.port or free_port(host)
    roles = plan(args.command, args.num_workers, args.num_servers, port, hosts, host)
    return Launch(roles, args.timeout).run()


def _main_horovod(args) -> int:
    try:
        server = serve_rendezvous(args.num_workers, args.port or 0)
    except ImportError as e:
        print(f'launch: --horovod needs Horovod built for MXNet ({e}); `make horovod` builds it',
              file=sys.stderr)
        return 2
    except OSError as e:
        print(f'launch: cannot serve the rendezvous on 127.0.0.1:{args.port}: {e.strerror}',
              file=sys.stderr)
        return 1
    try:
        roles = horovod_plan(args.command, args.num_workers, server.server_address[1])
        return Launch(roles, args.timeout).run()
    finally:
        server.shutdown()
        server.server_close()


if __name__ == '__main__':
    sys.exit(main())
