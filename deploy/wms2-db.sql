-- The WMS2 records live in their own database beside Temporal's.
CREATE USER wms2 WITH PASSWORD 'wms2';
CREATE DATABASE wms2 OWNER wms2;
