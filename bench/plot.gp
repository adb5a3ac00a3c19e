# gnuplot -e "datafile='...'; outfile='...'" plot.gp
set terminal pngcairo size 1000,700 font ",10"
set output outfile
set multiplot layout 2,1 title "culvert beside its peers (one run)"
set style data histograms
set style fill solid 0.8 border -1
set boxwidth 0.8
set xtics rotate by -30
set grid ytics
set ylabel "Gbit/s (one TCP stream)"
plot datafile using 2:xtic(1) notitle lc rgb "#3a7bd5"
set ylabel "ping RTT (ms)"
plot datafile using 3:xtic(1) notitle lc rgb "#d5833a"
unset multiplot
