"""What the private database servers (localmysql, localpg) share."""

from localdb.ports import free_port

__all__ = ["free_port"]
