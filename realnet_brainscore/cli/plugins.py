"""`brainscore plugins install|uninstall`: our plugins in a brainscore_vision tree."""
from .options import command

PLUGINS = ("install: place this package's model plugin (realnet_s01 … realnet_s10) and benchmark plugins into the "
           'brainscore_vision package, where brainscore_vision.load_model/load_benchmark and `python -m '
           'brainscore_vision score` find them; uninstall: remove exactly the files install placed, unchanged since '
           '(each is recorded with its sha256 in $REALNET_HOME/installed-plugins.json); a file you added or edited '
           'stays, with a line saying so.')


def add_parsers(commands):
    plugins = commands.add_parser('plugins', help='place or remove our plugins in brainscore_vision',
                                  description=PLUGINS)
    actions = plugins.add_subparsers(title='plugins commands', required=True, metavar='ACTION')
    install = command(actions, 'install', run_install, help='place our plugins into brainscore_vision',
                      description=PLUGINS)
    install.add_argument('--brainscore-vision', metavar='DIR',
                         help='the brainscore_vision folder to install into (default: the installed one)')
    uninstall = command(actions, 'uninstall', run_uninstall, help='remove the files install placed',
                        description=PLUGINS)
    uninstall.add_argument('--brainscore-vision', metavar='DIR',
                           help='only the installation in this folder (default: every installation recorded)')


def run_install(args):
    from ..submission import install
    for folder in install(args.brainscore_vision):
        print(f'placed {folder}')


def run_uninstall(args):
    from ..errors import printable
    from ..submission import uninstall
    for line in uninstall(args.brainscore_vision):
        print(printable(line))  # its paths come from installed-plugins.json, a file
