"""Reading ReqMgr2 requests as ReqMgr2 and WMCore mean them."""

from wms2.reqmgr.convert import request_from_reqmgr
from wms2.reqmgr.errors import RequestAlreadyRan, RequestImportError, RerunRefused

__all__ = ["RequestAlreadyRan", "RequestImportError", "RerunRefused", "request_from_reqmgr"]
