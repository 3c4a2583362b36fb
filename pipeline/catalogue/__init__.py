"""Reference data about the products between an application and its database (see ``idle_limits``)."""
