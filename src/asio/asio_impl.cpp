// Separate compilation of Boost.Asio (with SSL) and Boost.Beast: their
// implementation is compiled here once instead of in every translation unit.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
