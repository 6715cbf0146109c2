"""`make bench`: every bottleneck reproduced, every optimization measured side by side."""
