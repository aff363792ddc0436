"""`python -m realnet_brainscore.cli`: the `brainscore` command."""
import sys

from . import main

sys.exit(main())
