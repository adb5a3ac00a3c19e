# gnuplot -e "datafile='...'; outfile='...'" plot.gp
# datafile: "name" Gbit/s rtt_ms, one tunnel a line (0: failed or not measured).
set terminal pngcairo size 1100,760 font ",10"
set output outfile
set multiplot layout 2,1 title "culvert beside its peers (one run of make bench)"
set style data histograms
set style fill solid 0.8 border -1
set boxwidth 0.8
set xtics rotate by -30 nomirror
set grid ytics
set offsets 0, 0, graph 0.1, 0
set logscale y
set yrange [0.05:*]
set ylabel "Gbit/s, one TCP stream (log scale)"
plot datafile using ($2 > 0 ? $2 : 1/0):xtic(1) notitle lc rgb "#3a7bd5", \
     '' using 0:($2 > 0 ? $2 : 1/0):(sprintf("%.2f", $2)) with labels offset 0,0.8 notitle
set yrange [0.01:*]
set ylabel "ping RTT, idle (ms, log scale)"
plot datafile using ($3 > 0 ? $3 : 1/0):xtic(1) notitle lc rgb "#d5833a", \
     '' using 0:($3 > 0 ? $3 : 1/0):(sprintf("%.3f", $3)) with labels offset 0,0.8 notitle
unset multiplot
