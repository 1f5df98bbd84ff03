//! Browser-free tests of the head pages through HTTP, as the signed-in roles.
