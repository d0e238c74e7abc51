"""``python -m avprep`` runs the same command line as the ``avprep`` script."""

import sys

from avprep.cli import main

sys.exit(main())
