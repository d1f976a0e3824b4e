import sys

from activity_sync_tools.bench.cli import main

sys.exit(main())
