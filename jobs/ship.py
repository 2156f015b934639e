"""Ship: move paid orders on to shipped once SHIP_DELAY_MINUTES have passed since payment."""
from datetime import datetime

from core.vocabulary import ShipMode
from jobs.common import JobSummary, batch_size, log, setting, ship_delay
from services.fulfilment import ship_paid_orders


def ship_orders(now: datetime) -> JobSummary:
    """Mark a batch of paid orders shipped, each once, by the one ship rule. Needs an app context.

    Does nothing with SHIP_MODE=manual (a value outside ShipMode fails the run, logged).

    Orders waiting for the owner (``attention`` set) and those whose refunds, done or in flight,
    cover the whole amount are left alone (services.fulfilment.SHIP_RULE).
    """
    summary = JobSummary("ship")
    if ShipMode(setting("SHIP_MODE")) == ShipMode.MANUAL:
        return summary.log()  # the owner ships by hand: paid orders wait in the 待发货 list
    try:
        summary.checked, summary.shipped = ship_paid_orders(now, now - ship_delay(), batch_size())
    except Exception:
        summary.add("errors")
        log.exception("job=ship batch failed; will retry")
    return summary.log()
