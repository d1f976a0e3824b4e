import sys

from activity_sync_tools.chaos.cli import main

sys.exit(main())
