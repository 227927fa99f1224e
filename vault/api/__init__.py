"""HTTP edge: controllers, middleware, templates. Domain packages never import from here."""
