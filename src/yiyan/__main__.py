"""`python -m yiyan` (also what `torchrun -m yiyan train CONFIG` runs on each rank)."""

import sys

from yiyan.cli import main

sys.exit(main())
