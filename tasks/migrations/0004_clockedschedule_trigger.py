"""A clocked schedule's changed time re-plans the jobs that use it, as interval and crontab
changes do (migration 0002): the beat fires clocked one-off jobs too."""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION tasks_schedule_row_changed() RETURNS trigger AS $$
BEGIN
    UPDATE tasks_jobschedule AS js
       SET stale = true, next_fire_at = NULL, changed_at = now()
      FROM django_celery_beat_periodictask AS pt
     WHERE js.periodic_task_id = pt.id
       AND ((TG_TABLE_NAME = 'django_celery_beat_intervalschedule' AND pt.interval_id = NEW.id)
         OR (TG_TABLE_NAME = 'django_celery_beat_crontabschedule' AND pt.crontab_id = NEW.id)
         OR (TG_TABLE_NAME = 'django_celery_beat_clockedschedule' AND pt.clocked_id = NEW.id));
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER tasks_clockedschedule_changed
    AFTER UPDATE ON django_celery_beat_clockedschedule
    FOR EACH ROW
    WHEN (OLD.clocked_time IS DISTINCT FROM NEW.clocked_time)
    EXECUTE FUNCTION tasks_schedule_row_changed();
"""

BACKWARD = """
DROP TRIGGER tasks_clockedschedule_changed ON django_celery_beat_clockedschedule;
"""


class Migration(migrations.Migration):
    dependencies = [("tasks", "0003_firing_reason")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
