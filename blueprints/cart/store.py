def cart_count(session):
    return 0
