"""`make bench`: python -m tests.bench."""
from tests.bench import inprocess

inprocess.main()
