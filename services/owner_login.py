"""Owner login: session versions, so that logging out (or a new password) ends every session of the owner."""
from sqlalchemy import select, update

from extensions import db
from models import Owner
from services.use_case import use_case


def owner_for_session(session_key: str) -> Owner | None:
    """The owner a session belongs to, if it holds their current session version; else None (logged out)."""
    parsed = Owner.parse_session_key(session_key)
    if parsed is None:
        return None
    owner_id, version = parsed
    return db.session.scalar(select(Owner).where(Owner.id == owner_id, Owner.session_version == version))


def revoke_sessions(owner_id: int) -> None:
    """Raise the owner's session version, so every session holding an older one is logged out. No commit."""
    db.session.execute(update(Owner).where(Owner.id == owner_id).values(session_version=Owner.session_version + 1))


@use_case
def log_out_everywhere(owner_id: int) -> None:
    """End every session of the owner (this browser's and any copy of its cookie); commit."""
    revoke_sessions(owner_id)
    db.session.commit()
