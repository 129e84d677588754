"""Any SQLAlchemy database into the lake: reflection, names, types, change capture."""
