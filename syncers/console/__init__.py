"""The operator console: every admin class and admin view — clients (`clients`), runs and
records (`runs`), the console's own views and buttons (`views`), the dashboard and its charts,
beat's periodic tasks (`beat`), static jobs, notification routes, API tokens and plugins — with
the admin's forms, config widget and list cells. An edge: it loads objects, checks
syncers.permissions and calls syncers.services and syncers.selectors (and reads syncers.ops);
it may import anything below it, and nothing below imports it. syncers.admin (Django's
autodiscovery) imports its registrations; `plugins` registers from SyncersConfig.ready()."""
