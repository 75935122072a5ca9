"""HTTP surface: error mapping, middleware, request scope and authentication dependencies."""
