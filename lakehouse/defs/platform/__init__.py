"""The platform domain: platform database -> lake -> warehouse projections and KPIs."""
