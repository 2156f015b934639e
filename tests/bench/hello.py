"""The bare Flask app the shop is measured against: the same framework and server, no work at all."""
from flask import Flask

app = Flask(__name__)


@app.get("/")
@app.get("/<path:anything>")
def hello(anything=""):
    return "hello"
