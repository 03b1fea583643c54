// The one translation unit that compiles Boost.Beast's implementation
// (BOOST_BEAST_SEPARATE_COMPILATION is set project-wide).
#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/beast/src.hpp>
