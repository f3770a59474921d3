"""PostgreSQL triggers that keep `tasks_jobschedule` in step with django-celery-beat's tables.

Every write path (the ORM, django-celery-beat's admin, a bulk `QuerySet.update()`, raw SQL)
passes through them: a new job or a schedule change marks its companion row stale (a beat
plans its next fire time), a delete removes it. Run-bookkeeping columns (`last_run_at`,
`total_run_count`, `date_changed`, arguments) do not touch it.
"""

from django.db import migrations

FORWARD = """
CREATE FUNCTION tasks_jobschedule_mark(task_id integer) RETURNS void AS $$
BEGIN
    INSERT INTO tasks_jobschedule (periodic_task_id, next_fire_at, stale, changed_at, last_tick,
                                   misfire_policy, misfire_grace_seconds, missed_ticks)
    VALUES (task_id, NULL, true, now(), NULL, 'coalesce', NULL, 0)
    ON CONFLICT (periodic_task_id)
    DO UPDATE SET stale = true, next_fire_at = NULL, changed_at = now();
END;
$$ LANGUAGE plpgsql;

CREATE FUNCTION tasks_periodictask_changed() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM tasks_jobschedule WHERE periodic_task_id = OLD.id;
        RETURN OLD;
    END IF;
    PERFORM tasks_jobschedule_mark(NEW.id);
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE FUNCTION tasks_periodictask_truncated() RETURNS trigger AS $$
BEGIN
    DELETE FROM tasks_jobschedule;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE FUNCTION tasks_schedule_row_changed() RETURNS trigger AS $$
BEGIN
    UPDATE tasks_jobschedule AS js
       SET stale = true, next_fire_at = NULL, changed_at = now()
      FROM django_celery_beat_periodictask AS pt
     WHERE js.periodic_task_id = pt.id
       AND ((TG_TABLE_NAME = 'django_celery_beat_intervalschedule' AND pt.interval_id = NEW.id)
         OR (TG_TABLE_NAME = 'django_celery_beat_crontabschedule' AND pt.crontab_id = NEW.id));
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER tasks_periodictask_inserted
    AFTER INSERT ON django_celery_beat_periodictask
    FOR EACH ROW EXECUTE FUNCTION tasks_periodictask_changed();

CREATE TRIGGER tasks_periodictask_rescheduled
    AFTER UPDATE ON django_celery_beat_periodictask
    FOR EACH ROW
    WHEN (OLD.enabled IS DISTINCT FROM NEW.enabled
       OR OLD.interval_id IS DISTINCT FROM NEW.interval_id
       OR OLD.crontab_id IS DISTINCT FROM NEW.crontab_id
       OR OLD.solar_id IS DISTINCT FROM NEW.solar_id
       OR OLD.clocked_id IS DISTINCT FROM NEW.clocked_id
       OR OLD.start_time IS DISTINCT FROM NEW.start_time
       OR OLD.expires IS DISTINCT FROM NEW.expires
       OR OLD.one_off IS DISTINCT FROM NEW.one_off)
    EXECUTE FUNCTION tasks_periodictask_changed();

CREATE TRIGGER tasks_periodictask_deleted
    AFTER DELETE ON django_celery_beat_periodictask
    FOR EACH ROW EXECUTE FUNCTION tasks_periodictask_changed();

CREATE TRIGGER tasks_periodictask_truncated
    AFTER TRUNCATE ON django_celery_beat_periodictask
    FOR EACH STATEMENT EXECUTE FUNCTION tasks_periodictask_truncated();

CREATE TRIGGER tasks_intervalschedule_changed
    AFTER UPDATE ON django_celery_beat_intervalschedule
    FOR EACH ROW
    WHEN (OLD.every IS DISTINCT FROM NEW.every OR OLD.period IS DISTINCT FROM NEW.period)
    EXECUTE FUNCTION tasks_schedule_row_changed();

CREATE TRIGGER tasks_crontabschedule_changed
    AFTER UPDATE ON django_celery_beat_crontabschedule
    FOR EACH ROW
    WHEN (OLD.minute IS DISTINCT FROM NEW.minute
       OR OLD.hour IS DISTINCT FROM NEW.hour
       OR OLD.day_of_week IS DISTINCT FROM NEW.day_of_week
       OR OLD.day_of_month IS DISTINCT FROM NEW.day_of_month
       OR OLD.month_of_year IS DISTINCT FROM NEW.month_of_year
       OR OLD.timezone IS DISTINCT FROM NEW.timezone)
    EXECUTE FUNCTION tasks_schedule_row_changed();

INSERT INTO tasks_jobschedule (periodic_task_id, next_fire_at, stale, changed_at, last_tick,
                               misfire_policy, misfire_grace_seconds, missed_ticks)
SELECT id, NULL, true, now(), last_run_at, 'coalesce', NULL, 0
  FROM django_celery_beat_periodictask
    ON CONFLICT (periodic_task_id) DO NOTHING;
"""

BACKWARD = """
DROP TRIGGER tasks_crontabschedule_changed ON django_celery_beat_crontabschedule;
DROP TRIGGER tasks_intervalschedule_changed ON django_celery_beat_intervalschedule;
DROP TRIGGER tasks_periodictask_truncated ON django_celery_beat_periodictask;
DROP TRIGGER tasks_periodictask_deleted ON django_celery_beat_periodictask;
DROP TRIGGER tasks_periodictask_rescheduled ON django_celery_beat_periodictask;
DROP TRIGGER tasks_periodictask_inserted ON django_celery_beat_periodictask;
DROP FUNCTION tasks_schedule_row_changed();
DROP FUNCTION tasks_periodictask_truncated();
DROP FUNCTION tasks_periodictask_changed();
DROP FUNCTION tasks_jobschedule_mark(integer);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("tasks", "0001_beat_tables"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
