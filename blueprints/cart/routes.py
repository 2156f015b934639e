from blueprints.cart import bp


@bp.get("")
def show():
    return "cart"
