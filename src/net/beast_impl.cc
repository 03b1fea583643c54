// The one translation unit that compiles Boost.Beast's implementation and
// Asio's SSL implementation (BOOST_BEAST_SEPARATE_COMPILATION and
// BOOST_ASIO_SEPARATE_COMPILATION are set project-wide).
#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
