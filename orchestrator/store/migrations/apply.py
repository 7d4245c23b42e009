"""Running the revisions with Alembic's API on a connection edgebench holds (in a transaction,
under the store's write lock: migrations.locked); env.py beside this file takes it from the
config. No alembic.ini: the config is made here."""

from typing import List, Tuple

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from . import FOLDER, HEAD


def config(conn: Connection = None) -> Config:
    made = Config()
    made.set_main_option("script_location", str(FOLDER))
    made.set_main_option("path_separator", "os")  # Alembic's new default, said so to silence its warning
    made.attributes["connection"] = conn
    return made


def upgrade(conn: Connection, revision: str) -> List[Tuple[str, str]]:
    """Runs the revisions after `revision` (which the store records) up to HEAD; returns them as
    (revision, what it changed), in order."""
    made = config(conn)
    applied = changes(made, revision)
    command.upgrade(made, HEAD)
    return applied


def changes(made: Config, revision: str) -> List[Tuple[str, str]]:
    scripts = ScriptDirectory.from_config(made)
    return [(s.revision, s.doc) for s in reversed(list(scripts.iterate_revisions(HEAD, revision)))]
