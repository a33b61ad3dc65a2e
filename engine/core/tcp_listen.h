// Opening a listening TCP socket on an Asio acceptor, shared by the MLLP and HTTP listeners.
// Port 0 asks the kernel for a free port; the bound port is returned.
#pragma once
#include <boost/asio.hpp>

#include <cstdint>
#include <string>

namespace cc {

inline uint16_t tcp_listen(boost::asio::ip::tcp::acceptor& acceptor, const std::string& address, uint16_t port) {
  using tcp = boost::asio::ip::tcp;
  tcp::endpoint ep(boost::asio::ip::make_address(address), port);
  acceptor.open(ep.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  acceptor.bind(ep);
  acceptor.listen(boost::asio::socket_base::max_listen_connections);
  return acceptor.local_endpoint().port();
}

}  // namespace cc
