import os

from django.core.wsgi import get_wsgi_application

from xcoresite.startup_checks import check_or_refuse

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xcoresite.settings")
application = get_wsgi_application()
check_or_refuse("the web server (xcoresite.wsgi)")  # an exception here: the server does not boot
