from ..common import notls  # noqa: F401 - first, before anything imports asyncio: see there

# isort: split
from ..common import names
from ..common.service import main_entry
from .service import build


def _args(p):
    p.add_argument("--profile", help="board profile name or path (overrides 'profile' in board.yaml)")


if __name__ == "__main__":
    main_entry("board", names.BOARD, build, extra_args=_args)
