from blueprints.catalog import bp


@bp.get("/")
def home():
    return "home"


@bp.get("/search")
def search():
    return "search"
