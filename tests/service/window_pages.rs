//! Browser-free tests of the window pages through HTTP, as the signed-in roles.
