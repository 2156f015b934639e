from flask import Blueprint

bp = Blueprint("pay", __name__)
