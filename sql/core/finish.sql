-- Last install step: every product object must be valid before the version is recorded, so a
-- half-working install never claims to be complete.
begin
  otask_install.validate_objects;
  otask_install.set_version(&otask_schema_version, 'oracle-tasks schema version &otask_schema_version');
end;
/
