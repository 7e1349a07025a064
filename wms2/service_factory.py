"""Build the configured service backends from Settings."""

from __future__ import annotations

from wms2.config import ServiceBackend, Settings
from wms2.services.acdc import ACDCClient
from wms2.services.catalog import OfflineCatalog
from wms2.services.cric import CricClient
from wms2.services.dbs import DBSClient, DBSWriterClient
from wms2.services.dqm import DQMGUIClient
from wms2.services.http import ServiceClient
from wms2.services.protocols import Services
from wms2.services.reqmgr import ReqMgrClient
from wms2.services.rucio import RucioClient


def build_services(settings: Settings) -> Services:
    if settings.service_backend is ServiceBackend.CATALOG:
        catalog = OfflineCatalog(settings.catalog_dir, settings.state_dir / "catalog-state")
        return Services(
            requests=catalog,
            files=catalog,
            replicas=catalog,
            registry=catalog,
            sites=catalog,
            acdc=catalog,
            dqm=catalog,
        )

    def client(name: str, url: str) -> ServiceClient:
        return ServiceClient.build(
            name,
            url,
            cert=settings.x509_cert,
            key=settings.x509_key,
            ca_dir=settings.x509_ca_dir,
            timeout=settings.http_timeout_sec,
            retries=settings.http_retries,
        )

    reader = DBSClient(client("dbs", settings.dbs_url))
    return Services(
        requests=ReqMgrClient(client("reqmgr2", settings.reqmgr_url)),
        files=reader,
        registry=DBSWriterClient(client("dbs", settings.dbs_writer_url), reader),
        replicas=RucioClient(client("rucio", settings.rucio_url), settings.rucio_account),
        sites=CricClient(client("cric", settings.cric_url)),
        # ACDCServer is the request's: one client per server it names.
        acdc=ACDCClient(lambda server: client("acdc", server)),
        # Each upload names its GUI in full (the request's DQMUploadUrl).
        dqm=DQMGUIClient(client("dqm", "https://cmsweb.cern.ch")),
    )
