import sys

from w2s_bench.cli import main

sys.exit(main())
