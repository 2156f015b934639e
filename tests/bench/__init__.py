"""`make bench` and `make loadtest`: the shop measured from outside, against a bare Flask app and the sandbox."""
