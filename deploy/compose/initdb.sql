-- One database per service, each owned by its own login role: a service can
-- reach its own tables and no one else's (database per service). The
-- PostgreSQL image runs this file once, when its data volume is empty.
--
-- DEVELOPMENT ONLY: the passwords below are public. The Kubernetes dev
-- overlay runs the same file (deploy/k8s/overlays/dev/postgres.yaml; the
-- tests keep the two identical). In production each role's password comes
-- from a secret manager and the databases live in a managed PostgreSQL.
--
-- "user" and "order" are SQL keywords, hence the quotes.

CREATE ROLE souk_auth LOGIN PASSWORD 'souk-dev-auth';
CREATE DATABASE "auth" OWNER souk_auth;
REVOKE ALL ON DATABASE "auth" FROM PUBLIC;

CREATE ROLE souk_user LOGIN PASSWORD 'souk-dev-user';
CREATE DATABASE "user" OWNER souk_user;
REVOKE ALL ON DATABASE "user" FROM PUBLIC;

CREATE ROLE souk_catalog LOGIN PASSWORD 'souk-dev-catalog';
CREATE DATABASE "catalog" OWNER souk_catalog;
REVOKE ALL ON DATABASE "catalog" FROM PUBLIC;

CREATE ROLE souk_inventory LOGIN PASSWORD 'souk-dev-inventory';
CREATE DATABASE "inventory" OWNER souk_inventory;
REVOKE ALL ON DATABASE "inventory" FROM PUBLIC;

CREATE ROLE souk_order LOGIN PASSWORD 'souk-dev-order';
CREATE DATABASE "order" OWNER souk_order;
REVOKE ALL ON DATABASE "order" FROM PUBLIC;

CREATE ROLE souk_payment LOGIN PASSWORD 'souk-dev-payment';
CREATE DATABASE "payment" OWNER souk_payment;
REVOKE ALL ON DATABASE "payment" FROM PUBLIC;

CREATE ROLE souk_notification LOGIN PASSWORD 'souk-dev-notification';
CREATE DATABASE "notification" OWNER souk_notification;
REVOKE ALL ON DATABASE "notification" FROM PUBLIC;

CREATE ROLE souk_warehouse LOGIN PASSWORD 'souk-dev-warehouse';
CREATE DATABASE "warehouse" OWNER souk_warehouse;
REVOKE ALL ON DATABASE "warehouse" FROM PUBLIC;

CREATE ROLE souk_recommendation LOGIN PASSWORD 'souk-dev-recommendation';
CREATE DATABASE "recommendation" OWNER souk_recommendation;
REVOKE ALL ON DATABASE "recommendation" FROM PUBLIC;
