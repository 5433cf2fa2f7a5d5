import sys

from globaltables.cli import main

sys.exit(main())
