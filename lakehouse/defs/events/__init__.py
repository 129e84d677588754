"""The events domain: event bus -> lake writer -> lake/events/<type> -> warehouse projections."""
