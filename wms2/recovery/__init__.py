"""Recovery of a request's failed work (ReqMgr2 Resubmission / ACDC): read it from WMS2's
records (records.py) or a WMCore ACDC collection (acdc.py), and cut the resubmission to
it (work.py, resolve.py). The request's Recovery record is wms2.recovery_spec."""
