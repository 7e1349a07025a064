"""CMS services WMS2 talks to: ReqMgr2, DBS and Rucio over HTTPS, or the offline catalog."""

from wms2.services.errors import ServiceError, ServiceRequestError, ServiceUnavailable
from wms2.services.protocols import DataService, Rule, RuleState, Services

__all__ = [
    "DataService",
    "Rule",
    "RuleState",
    "ServiceError",
    "ServiceRequestError",
    "ServiceUnavailable",
    "Services",
]
