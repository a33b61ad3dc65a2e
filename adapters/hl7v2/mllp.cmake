# cc_mllp: the MLLP transport and HL7 ACK building (the parser itself is cc_hl7v2).
add_library(cc_mllp STATIC ${CMAKE_SOURCE_DIR}/adapters/hl7v2/mllp_server.cpp ${CMAKE_SOURCE_DIR}/adapters/hl7v2/ack.cpp)
target_link_libraries(cc_mllp PUBLIC cc_hl7v2 cc_core Boost::headers spdlog::spdlog)
