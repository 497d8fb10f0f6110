"""challenger: the independent watchtower that re-executes batches from L1 and disputes wrong roots.

Built on ``optirollup.stf`` and ``optirollup.dispute``; the watchtower itself is a later issue.
"""
