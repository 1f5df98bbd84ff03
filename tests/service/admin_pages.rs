//! Browser-free tests of the admin pages through HTTP, as the signed-in roles.
