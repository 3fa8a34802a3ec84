// The download progress line: sizes, durations, bar, windowed rate and ETA, checked against
// values worked out by hand for fixed event times.
#include <gtest/gtest.h>

#include "models/hub/progress_bar.h"

namespace clipmind::models::hub {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int64_t kMiB = 1024 * 1024;

TEST(HubProgressBar, FormatsBytes) {
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(1023), "1023 B");
  EXPECT_EQ(format_bytes(1024), "1.0 KiB");
  EXPECT_EQ(format_bytes(1536), "1.5 KiB");
  EXPECT_EQ(format_bytes(10 * kMiB), "10.0 MiB");
  EXPECT_EQ(format_bytes(3 * 1024 * kMiB), "3.0 GiB");
  EXPECT_EQ(format_bytes(int64_t{1} << 50), "1.0 PiB");
}

TEST(HubProgressBar, FormatsDurations) {
  EXPECT_EQ(format_duration(0), "0:00");
  EXPECT_EQ(format_duration(5), "0:05");
  EXPECT_EQ(format_duration(65), "1:05");
  EXPECT_EQ(format_duration(3725), "1:02:05");
  EXPECT_EQ(format_duration(4.67), "0:05");
  EXPECT_EQ(format_duration(-1), "--:--");
}

TEST(HubProgressBar, ShowsBarRateAndEtaOverAWindow) {
  ProgressBar bar(10, seconds(5));
  const auto t0 = ProgressBar::Clock::time_point{} + seconds(100);
  auto event = [](int64_t done) {
    return ProgressEvent{
        .stage = "download", .done = done, .total = 10 * kMiB, .detail = "model.safetensors"};
  };
  EXPECT_EQ(bar.line(event(0), t0),
            "model.safetensors    0% [----------] 0 B/10.0 MiB  --/s  ETA --:--");
  // 1 MiB in 1 s; 9 MiB left.
  EXPECT_EQ(bar.line(event(kMiB), t0 + seconds(1)),
            "model.safetensors   10% [#---------] 1.0 MiB/10.0 MiB  1.0 MiB/s  ETA 0:09");
  // 3 MiB in 2 s = 1.5 MiB/s; 7 MiB left = 4.67 s.
  EXPECT_EQ(bar.line(event(3 * kMiB), t0 + seconds(2)),
            "model.safetensors   30% [###-------] 3.0 MiB/10.0 MiB  1.5 MiB/s  ETA 0:05");
  // At 10 s the 5 s window keeps the sample at 2 s: (8 - 3) MiB / 8 s = 640 KiB/s; 2 MiB left.
  EXPECT_EQ(bar.line(event(8 * kMiB), t0 + seconds(10)),
            "model.safetensors   80% [########--] 8.0 MiB/10.0 MiB  640.0 KiB/s  ETA 0:03");
  EXPECT_DOUBLE_EQ(bar.rate(), 5.0 * kMiB / 8.0);
  // (10 - 3) MiB over the 9 s since the sample at 2 s, still inside the window.
  EXPECT_EQ(bar.line(event(10 * kMiB), t0 + seconds(11)),
            "model.safetensors  100% [##########] 10.0 MiB/10.0 MiB  796.4 KiB/s  ETA 0:00");
}

TEST(HubProgressBar, RestartedCounterAndUnknownTotal) {
  ProgressBar bar(4, seconds(5));
  const auto t0 = ProgressBar::Clock::time_point{} + seconds(100);
  bar.line(ProgressEvent{.stage = "download", .done = 4 * kMiB, .total = -1, .detail = ""}, t0);
  // The counter went back (a file restarted): the rate starts over instead of going negative.
  EXPECT_EQ(bar.line(ProgressEvent{.stage = "download", .done = kMiB, .total = -1, .detail = ""},
                     t0 + milliseconds(500)),
            "download  1.0 MiB  --/s");
  EXPECT_EQ(
      bar.line(ProgressEvent{.stage = "download", .done = 2 * kMiB, .total = -1, .detail = ""},
               t0 + seconds(1)),
      "download  2.0 MiB  2.0 MiB/s");
}

}  // namespace
}  // namespace clipmind::models::hub
